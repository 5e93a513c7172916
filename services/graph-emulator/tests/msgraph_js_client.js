// Drives Microsoft's own JavaScript Graph client (@microsoft/microsoft-graph-client) against the
// emulator served over HTTPS, configured as its docs say for a custom host and nothing more:
// `baseUrl` and `customHosts` (the SDK attaches the token, and follows @odata.nextLink, only for
// https Graph hosts), the dev CA trusted through NODE_EXTRA_CA_CERTS. Prints one JSON object with
// what it saw; exits 1 on error.
const graph = require(process.env.MSGRAPH_MODULE);
const [base, tenant, clientId, secret, user] = process.argv.slice(2);

(async () => {
  const form = new URLSearchParams({
    client_id: clientId,
    scope: "https://graph.microsoft.com/.default",
    client_secret: secret,
    grant_type: "client_credentials",
  });
  const tokenResponse = await fetch(`${base}/${tenant}/oauth2/v2.0/token`, { method: "POST", body: form });
  const token = (await tokenResponse.json()).access_token;
  const httpsBase = base;
  const authProvider = { getAccessToken: async () => token };
  const client = graph.Client.initWithMiddleware({
    baseUrl: `${base}/`,
    defaultVersion: "v1.0",
    customHosts: new Set([new URL(base).hostname]),
    middleware: [
      new graph.AuthenticationHandler(authProvider),
      new graph.RetryHandler(new graph.RetryHandlerOptions(1, 3)),
      new graph.HTTPMessageHandler(),
    ],
  });
  const out = {};
  const contacts = `/users/${user}/contacts`;
  out.created = await client.api(contacts).post({
    givenName: "Pavel",
    surname: "Bansky",
    emailAddresses: [{ address: "pavelb@fabrikam.onmicrosoft.com", name: "Pavel Bansky" }],
    businessPhones: ["+1 732 555 0102"],
  });
  const one = `${contacts}/${encodeURIComponent(out.created.id)}`;
  out.read = await client.api(one).select("displayName,surname").get();
  out.updated = await client.api(one).patch({ jobTitle: "CEO" });

  // Paging through the SDK's PageIterator follows @odata.nextLink verbatim.
  const first = await client.api(contacts).top(4).get();
  const surnames = [];
  const iterator = new graph.PageIterator(client, first, (c) => { surnames.push(c.surname); return true; });
  await iterator.iterate();
  out.paged = surnames;

  // The folder's delta, paged by the PageIterator to its deltaLink (pages of 3).
  const delta = await client
    .api(`/users/${user}/contactFolders/contacts/contacts/delta`)
    .header("Prefer", "odata.maxpagesize=3")
    .get();
  const deltaSurnames = [];
  const deltaIterator = new graph.PageIterator(client, delta, (c) => { deltaSurnames.push(c.surname); return true; });
  await deltaIterator.iterate();
  out.delta = { surnames: deltaSurnames, deltaLink: deltaIterator.getDeltaLink() || null };

  // A $batch built with the SDK's BatchRequestContent.
  const batch = new graph.BatchRequestContent([
    { id: "1", request: new Request(`${httpsBase}/v1.0${one}`, { method: "GET" }) },
    {
      id: "2",
      dependsOn: ["1"],
      request: new Request(`${httpsBase}/v1.0${contacts}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ surname: "Batched" }),
      }),
    },
  ]);
  const batchResponse = new graph.BatchResponseContent(await client.api("/$batch").post(await batch.getContent()));
  out.batch = {
    get: (await batchResponse.getResponseById("1").json()).surname,
    createdStatus: batchResponse.getResponseById("2").status,
  };

  await client.api(one).delete();
  try {
    await client.api(one).get();
    out.afterDelete = "still there";
  } catch (e) {
    out.afterDelete = { statusCode: e.statusCode, code: e.code };
  }
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
