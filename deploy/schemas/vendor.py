#!/usr/bin/env python3
"""Turns the published CustomResourceDefinitions of KEDA and the Prometheus Operator into the
strict JSON schemas `scripts/check-manifests` validates our custom resources against.

Usage: deploy/schemas/vendor.py CRD.yaml... (writes deploy/schemas/<kind>-<version>.json)

Strict as `kubeconform -strict` is: every object that lists its properties and says nothing of
others gets `additionalProperties: false`, so a misspelt field fails instead of being ignored.
Objects marked `x-kubernetes-preserve-unknown-fields` stay open, as the API server keeps them.
"""
import json
import pathlib
import sys

import yaml

OUT = pathlib.Path(__file__).resolve().parent


def strict(node):
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items()}
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


def main(paths):
    for path in paths:
        for crd in yaml.safe_load_all(pathlib.Path(path).read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                # apiVersion and kind are pinned, metadata is checked by the API server.
                schema["properties"]["apiVersion"] = {"enum": [f"{group}/{version['name']}"]}
                schema["properties"]["kind"] = {"enum": [kind]}
                schema["properties"]["metadata"] = {"type": "object"}
                schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "spec"})
                schema["$schema"] = "http://json-schema.org/draft-07/schema#"
                target = OUT / f"{kind.lower()}-{group}-{version['name']}.json"
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(f"{path}: {kind} {group}/{version['name']} -> {target.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
