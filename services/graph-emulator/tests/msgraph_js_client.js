// Drives Microsoft's own JavaScript Graph client (@microsoft/microsoft-graph-client) against the
// emulator, pointed at it by base URL. Prints one JSON object with what it saw; exits 1 on error.
const graph = require(process.env.MSGRAPH_MODULE);
const [base, tenant, clientId, secret, user] = process.argv.slice(2);

// The SDK only treats https URLs as Graph URLs (for auth and for following @odata.nextLink), so
// it is given the emulator's address as https, and this last middleware plays the part of a
// TLS-terminating proxy: it sends the request over plain http with `X-Forwarded-Proto: https`,
// which makes the emulator write https links as Graph does.
class TlsTerminator {
  async execute(context) {
    const downgrade = (url) => url.replace(/^https:/, "http:");
    if (context.request instanceof Request) {
      const headers = new Headers(context.request.headers);
      headers.set("X-Forwarded-Proto", "https");
      const init = { method: context.request.method, headers };
      if (!["GET", "HEAD"].includes(context.request.method)) init.body = await context.request.text();
      context.request = new Request(downgrade(context.request.url), init);
    } else {
      context.request = downgrade(context.request);
      context.options = context.options || {};
      const headers = context.options.headers;
      if (headers instanceof Headers) headers.set("X-Forwarded-Proto", "https");
      else context.options.headers = { ...(headers || {}), "X-Forwarded-Proto": "https" };
    }
    context.response = await fetch(context.request, context.options);
  }
  setNext() {}
}

(async () => {
  const form = new URLSearchParams({
    client_id: clientId,
    scope: "https://graph.microsoft.com/.default",
    client_secret: secret,
    grant_type: "client_credentials",
  });
  const tokenResponse = await fetch(`${base}/${tenant}/oauth2/v2.0/token`, { method: "POST", body: form });
  const token = (await tokenResponse.json()).access_token;
  const httpsBase = base.replace(/^http:/, "https:");
  const authProvider = { getAccessToken: async () => token };
  const client = graph.Client.initWithMiddleware({
    baseUrl: `${httpsBase}/`,
    defaultVersion: "v1.0",
    customHosts: new Set([new URL(base).hostname]),
    middleware: [
      new graph.AuthenticationHandler(authProvider),
      new graph.RetryHandler(new graph.RetryHandlerOptions(1, 3)),
      new TlsTerminator(),
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
