// The TypeScript side of the interop tests: Mastra's released storage
// (@mastra/libsql, @mastra/pg) on a database the Python library also uses.
//
// Usage: node mastra.mjs '<json request>'
//   request: {"packages": DIR holding node_modules/@mastra/*,
//             "store": {"kind": "sqlite", "url": "file:PATH"}
//                    | {"kind": "pg", "connectionString": "...", "schemaName": "..."},
//             "calls": [{"domain": "scores"|"memory"|"workflows", "method": "...", "args": {...}}]}
// Runs store.init(), then each call in order; prints one JSON line:
// {"results": [...]} (Dates as ISO strings), or {"error": "..."} with exit 1.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const request = JSON.parse(process.argv[2]);
const require = createRequire(join(request.packages, 'package.json'));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);

try {
  let store;
  if (request.store.kind === 'sqlite') {
    const { LibSQLStore } = await load('@mastra/libsql');
    store = new LibSQLStore({ id: 'interop', url: request.store.url });
  } else {
    const { PostgresStore } = await load('@mastra/pg');
    store = new PostgresStore({
      id: 'interop',
      connectionString: request.store.connectionString,
      schemaName: request.store.schemaName,
    });
  }
  await store.init();
  const results = [];
  for (const call of request.calls) {
    const domain = await store.getStore(call.domain);
    results.push(await domain[call.method](call.args));
  }
  process.stdout.write(JSON.stringify({ results }) + '\n');
  await store.close?.();
  process.exit(0);
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error?.stack ?? error), cause: String(error?.cause ?? '') }) + '\n');
  process.exit(1);
}
