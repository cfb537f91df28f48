// pgjdbc (Debian's libpostgresql-jdbc-java): a PreparedStatement executed 12 times; from the
// fifth execution pgjdbc uses a named server-side statement, and PostgreSQL then picks a generic
// plan, so the node must route with parameters evaluated at execution. Each execution runs with
// routed.transparent on, then the same statement text with it off, in one REPEATABLE READ
// snapshot; the rows must be identical and the first run answered by the router.
import java.sql.*;
import java.time.*;
import java.util.*;

public class Client {
    static List<List<Object>> rows(ResultSet rs) throws SQLException {
        List<List<Object>> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            List<Object> row = new ArrayList<>();
            for (int i = 1; i <= n; i++) row.add(rs.getObject(i));
            out.add(row);
        }
        return out;
    }

    static long answers(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT coalesce((routed.last_meta()->>'answers')::bigint, 0)")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/routed_clients?user=postgres";
        String sql = "SELECT DATE_TRUNC('hour', \"source\".\"ts\") AS \"ts\", \"source\".\"status\" AS \"status\", "
            + "COUNT(*) AS \"count\", SUM(\"source\".\"ms\") AS \"sum\" FROM (SELECT \"public\".\"cm\".\"ts\" AS \"ts\", "
            + "\"public\".\"cm\".\"status\" AS \"status\", \"public\".\"cm\".\"ms\" AS \"ms\" FROM \"public\".\"cm\") AS \"source\" "
            + "WHERE \"source\".\"ts\" >= ? AND \"source\".\"ts\" < ? "
            + "GROUP BY DATE_TRUNC('hour', \"source\".\"ts\"), \"source\".\"status\" "
            + "ORDER BY DATE_TRUNC('hour', \"source\".\"ts\") ASC, \"source\".\"status\" ASC";
        int runs = 0, routed = 0, diffs = 0;
        try (Connection c = DriverManager.getConnection(url)) {
            try (Statement s = c.createStatement()) {
                s.execute("SET SESSION TIMEZONE TO 'UTC'");
            }
            c.setAutoCommit(false);
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            try (PreparedStatement on = c.prepareStatement(sql); PreparedStatement off = c.prepareStatement(sql)) {
                for (int i = 0; i < 12; i++) {
                    OffsetDateTime to = OffsetDateTime.now(ZoneOffset.UTC).minusHours(3L * i).minusMinutes(7);
                    OffsetDateTime from = to.minusDays(2);
                    long before = answers(c);
                    try (Statement s = c.createStatement()) { s.execute("SET LOCAL routed.transparent = on"); }
                    on.setObject(1, from);
                    on.setObject(2, to);
                    List<List<Object>> a;
                    try (ResultSet rs = on.executeQuery()) { a = rows(rs); }
                    if (answers(c) > before) routed++;
                    try (Statement s = c.createStatement()) { s.execute("SET LOCAL routed.transparent = off"); }
                    off.setObject(1, from);
                    off.setObject(2, to);
                    List<List<Object>> b;
                    try (ResultSet rs = off.executeQuery()) { b = rows(rs); }
                    c.commit();
                    runs++;
                    if (!a.equals(b) || a.isEmpty()) {
                        diffs++;
                        System.out.println("DIFFERENT at execution " + i + ": " + a.subList(0, Math.min(3, a.size())) + " vs " + b.subList(0, Math.min(3, b.size())));
                    }
                }
            }
        }
        System.out.println("pgjdbc: " + runs + " executions of one PreparedStatement, " + routed + " routed, " + diffs + " differences");
        System.exit(diffs == 0 && routed == runs ? 0 : 1);
    }
}
