// node-postgres (the `pg` package): parameterized queries go over the extended protocol
// (Parse/Bind/Execute with an unnamed statement, or a named one when `name` is given). Each
// query runs with routed.transparent on and then off in one REPEATABLE READ snapshot; the rows
// must be identical and the routed run must have been answered by the router.
const { Client } = require("pg");

const queries = [
  // Grafana: $__timeGroupAlias and $__timeFilter, values bound as parameters
  ["SELECT floor(extract(epoch from ts)/300)*300 AS \"time\", status, count(*) AS runs FROM cm " +
   "WHERE ts BETWEEN $1 AND $2 GROUP BY 1, 2 ORDER BY 1, 2", "2h"],
  // Superset: DATE_TRUNC, half-open bounds, row limit
  ["SELECT DATE_TRUNC('hour', ts) AS ts, status, COUNT(*) AS count, max(ms) AS max_ms FROM cm " +
   "WHERE ts >= $1 AND ts < $2 GROUP BY DATE_TRUNC('hour', ts), status ORDER BY 1 DESC, 2 LIMIT 10000", "2d"],
  // Metabase: nested "source", quoted identifiers, a filter parameter
  ["SELECT DATE_TRUNC('day', \"source\".\"ts\") AS \"ts\", COUNT(*) AS \"count\" FROM " +
   "(SELECT \"public\".\"cm\".\"ts\" AS \"ts\", \"public\".\"cm\".\"status\" AS \"status\" FROM \"public\".\"cm\") AS \"source\" " +
   "WHERE \"source\".\"ts\" >= $1 AND \"source\".\"ts\" < $2 AND \"source\".\"status\" = $3 " +
   "GROUP BY DATE_TRUNC('day', \"source\".\"ts\") ORDER BY DATE_TRUNC('day', \"source\".\"ts\") ASC", "9d"],
];

function window(span, shift) {
  const hours = { "2h": 2, "2d": 48, "9d": 216 }[span];
  const end = new Date(Date.now() - shift * 3600 * 1000 - 17 * 60 * 1000);
  return [new Date(end.getTime() - hours * 3600 * 1000), end];
}

async function answers(c) {
  const r = await c.query("SELECT coalesce((routed.last_meta()->>'answers')::bigint, 0) AS n");
  return Number(r.rows[0].n);
}

async function main() {
  const port = Number(process.argv[2] || 54329);
  const c = new Client({ host: "127.0.0.1", port, user: "postgres", database: "routed_clients" });
  await c.connect();
  await c.query("SET TimeZone = 'UTC'");
  let runs = 0, routed = 0, diffs = 0;
  for (let round = 0; round < 4; round++) {
    for (const [i, [sql, span]] of queries.entries()) {
      const [from, to] = window(span, round * 5);
      const params = i === 2 ? [from, to, "OK"] : [from, to];
      // a named statement from round 2 on: prepared once, executed again
      const named = round >= 2 ? { name: `q${i}` } : {};
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
      const before = await answers(c);
      await c.query("SET LOCAL routed.transparent = on");
      const on = await c.query({ text: sql, values: params, ...named });
      routed += (await answers(c)) > before ? 1 : 0;
      await c.query("SET LOCAL routed.transparent = off");
      const off = await c.query({ text: sql, values: params });
      await c.query("COMMIT");
      runs++;
      const same = JSON.stringify(on.rows) === JSON.stringify(off.rows) &&
        JSON.stringify(on.fields.map((f) => f.dataTypeID)) === JSON.stringify(off.fields.map((f) => f.dataTypeID));
      if (!same || on.rows.length === 0) {
        diffs++;
        console.log(`DIFFERENT (${on.rows.length} rows): ${sql}\n on: ${JSON.stringify(on.rows.slice(0, 3))}\n off: ${JSON.stringify(off.rows.slice(0, 3))}`);
      }
    }
  }
  await c.end();
  console.log(`node-postgres: ${runs} queries, ${routed} routed, ${diffs} differences`);
  process.exit(diffs === 0 && routed === runs ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
