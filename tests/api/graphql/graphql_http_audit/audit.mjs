// Runs graphql-http's GraphQL-over-HTTP server audits against the URL given as the only
// argument and prints one JSON array: every audit's id, name, status and, if not ok, reason.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}
const results = await auditServer({ url, fetchFn: fetch });
const report = results.map(({ id, name, status, reason }) => ({ id, name, status, reason }));
console.log(JSON.stringify(report));
