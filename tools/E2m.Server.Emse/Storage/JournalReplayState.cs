using System;
using System.Collections.Generic;
using System.Data.Common;
using System.IO;
using E2m.Server.Emse.Coap;
using Microsoft.Data.Sqlite;

namespace E2m.Server.Emse.Storage
{
    /// <summary>A kid's replay state (RFC 8613 §7.4 window; RFC 7252 §4.5 last exchange) as journal rows hold it.</summary>
    internal sealed class KidReplayState
    {
        public long Highest = -1;
        public uint Mask;
        public long LastPiv = -1;
        public byte[] LastHash = Array.Empty<byte>();
        public byte[] LastResponse = Array.Empty<byte>();
        public long LastMs;

        /// <summary>Back to the state of a new instance (no window, no last exchange).</summary>
        public void Reset()
        {
            Highest = -1;
            Mask = 0;
            LastPiv = -1;
            LastHash = Array.Empty<byte>();
            LastResponse = Array.Empty<byte>();
            LastMs = 0;
        }

        /// <summary>Window union; the exchange with the higher PIV is the last one (NSTART = 1: the one a device may retransmit).</summary>
        public void Merge(long highest, uint mask, long piv, byte[] hash, byte[] response, long ms)
        {
            ReplayMath.Union(ref Highest, ref Mask, highest, mask);
            if (piv >= LastPiv && hash.Length > 0)
            {
                LastPiv = piv;
                LastHash = hash;
                LastResponse = response;
                LastMs = ms;
            }
        }
    }

    /// <summary>
    /// This process's copy of one <c>emse_journal</c> row it committed: the accepted exchanges as they were encoded
    /// (kid, PIV, device, window after the group, request hash, response, readings). The fold and the replay-state
    /// apply read it instead of fetching and decoding the row's payload. Immutable once made except that the fold drops
    /// the readings it stored (<see cref="Folded"/>); journal ids are never reused (AUTOINCREMENT), so a copy can only
    /// ever stand for the row it was made from.
    /// </summary>
    internal sealed class JournalMemo
    {
        public JournalMemo(long createdMs, ExchangeWrite[] entries)
        {
            CreatedMs = createdMs;
            Entries = entries;
        }

        public long CreatedMs { get; }
        public ExchangeWrite[] Entries { get; }

        /// <summary>
        /// After the row's readings were folded into the readings file: the copies let go of them (only the replay state
        /// is read until the row is applied and deleted, JournalApplyEntries later), so the readings die young instead
        /// of being carried into the garbage collector's older generations.
        /// </summary>
        public void Folded()
        {
            foreach (ExchangeWrite w in Entries)
            {
                w.Readings = null;
            }
        }
    }

    /// <summary>
    /// SQLite journal mode: the group commit writes a kid's replay window and last exchange only into its
    /// <c>emse_journal</c> row (<see cref="GroupJournal"/> version 3), never a row per kid. The durable state of a kid is
    /// therefore its <c>emse_replay</c> row merged with every journal row still present (<see cref="Read"/>: the
    /// writer's reload), and whoever deletes journal rows first applies theirs to <c>emse_replay</c>, merged with what
    /// is there, in the same transaction (<see cref="ApplyAndDelete"/>): so a deletion never loses a window and
    /// a restart sees exactly what was acknowledged. Statements prepared on the connection's handle, bound by position.
    /// </summary>
    internal sealed class JournalReplayState : IDisposable
    {
        private readonly SQLitePCL.sqlite3 _handle;
        private readonly SQLitePCL.sqlite3_stmt _read;
        private readonly SQLitePCL.sqlite3_stmt _get;
        private readonly SQLitePCL.sqlite3_stmt _set;
        private readonly SQLitePCL.sqlite3_stmt _delete;
        private readonly List<ExchangeWrite> _entries = new();

        private readonly SQLitePCL.sqlite3_stmt _payload;
        private readonly Func<long, JournalMemo?>? _memo;

        /// <param name="connection">The main database (SQLite).</param>
        /// <param name="memo">This process's copies of the journal rows it committed (<see cref="EmseStore"/>), or null.</param>
        public JournalReplayState(DbConnection connection, Func<long, JournalMemo?>? memo = null)
        {
            _handle = ((SqliteConnection)connection).Handle!;
            _memo = memo;
            // Ids first; a row's payload is read (and decoded) only when this process holds no copy of it.
            _read = Prepare("SELECT id, created_ms FROM emse_journal WHERE id <= ?1 ORDER BY id");
            _payload = Prepare("SELECT payload FROM emse_journal WHERE id = ?1");
            _get = Prepare("SELECT highest, mask, last_piv, last_hash, last_response, last_ms FROM emse_replay WHERE kid = ?1");
            _set = Prepare(
                "INSERT INTO emse_replay (kid, highest, mask, updated_ms, last_piv, last_hash, last_response, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) " +
                "ON CONFLICT (kid) DO UPDATE SET highest = excluded.highest, mask = excluded.mask, updated_ms = excluded.updated_ms, " +
                "last_piv = excluded.last_piv, last_hash = excluded.last_hash, last_response = excluded.last_response, last_ms = excluded.last_ms");
            _delete = Prepare("DELETE FROM emse_journal WHERE id <= ?1");
        }

        private SQLitePCL.sqlite3_stmt Prepare(string sql)
        {
            int rc = SQLitePCL.raw.sqlite3_prepare_v2(_handle, sql, out SQLitePCL.sqlite3_stmt stmt);
            SqliteException.ThrowExceptionForRC(rc, _handle);
            return stmt;
        }

        /// <summary>
        /// The replay state of the journal rows with id ≤ <paramref name="upTo"/>, per kid (rows that do not decode
        /// contribute nothing: the fold sets them aside). Inside the caller's transaction.
        /// </summary>
        // Entered once per thread (or rarely) and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public Dictionary<string, KidReplayState> Read(long upTo)
        {
            var state = new Dictionary<string, KidReplayState>(StringComparer.Ordinal);
            SQLitePCL.sqlite3_stmt st = _read;
            SQLitePCL.raw.sqlite3_bind_int64(st, 1, upTo);
            try
            {
                int rc;
                while ((rc = SQLitePCL.raw.sqlite3_step(st)) == SQLitePCL.raw.SQLITE_ROW)
                {
                    long id = SQLitePCL.raw.sqlite3_column_int64(st, 0);
                    long createdMs = SQLitePCL.raw.sqlite3_column_int64(st, 1);
                    _entries.Clear();
                    if (_memo?.Invoke(id) is JournalMemo memo)
                    {
                        _entries.AddRange(memo.Entries);
                    }
                    else
                    {
                        try
                        {
                            GroupJournal.DecodeState(ReadPayload(id), _entries);
                        }
                        catch (InvalidDataException)
                        {
                            continue;
                        }
                    }

                    foreach (ExchangeWrite e in _entries)
                    {
                        if (!state.TryGetValue(e.Kid, out KidReplayState? k))
                        {
                            state[e.Kid] = k = new KidReplayState();
                        }

                        k.Merge(e.WindowHighest, e.WindowMask, e.Piv, e.RequestHash, e.Response, createdMs);
                    }
                }

                Check(rc, SQLitePCL.raw.SQLITE_DONE);
            }
            finally
            {
                SQLitePCL.raw.sqlite3_reset(st);
            }

            return state;
        }

        private byte[] ReadPayload(long id)
        {
            SQLitePCL.sqlite3_stmt st = _payload;
            SQLitePCL.raw.sqlite3_bind_int64(st, 1, id);
            try
            {
                int rc = SQLitePCL.raw.sqlite3_step(st);
                if (rc == SQLitePCL.raw.SQLITE_DONE)
                {
                    throw new InvalidDataException("journal row " + id.ToString(System.Globalization.CultureInfo.InvariantCulture) + " vanished");
                }

                Check(rc, SQLitePCL.raw.SQLITE_ROW);
                return SQLitePCL.raw.sqlite3_column_blob(st, 0).ToArray();
            }
            finally
            {
                SQLitePCL.raw.sqlite3_reset(st);
            }
        }

        /// <summary>A kid's <c>emse_replay</c> row as a state (false when it has none).</summary>
        public bool TryGetRow(string kid, out KidReplayState row)
        {
            row = new KidReplayState();
            SQLitePCL.sqlite3_stmt st = _get;
            SQLitePCL.raw.sqlite3_bind_text(st, 1, kid);
            try
            {
                int rc = SQLitePCL.raw.sqlite3_step(st);
                if (rc == SQLitePCL.raw.SQLITE_DONE)
                {
                    return false;
                }

                Check(rc, SQLitePCL.raw.SQLITE_ROW);
                row.Highest = SQLitePCL.raw.sqlite3_column_int64(st, 0);
                row.Mask = unchecked((uint)SQLitePCL.raw.sqlite3_column_int64(st, 1));
                if (SQLitePCL.raw.sqlite3_column_type(st, 2) != SQLitePCL.raw.SQLITE_NULL)
                {
                    row.LastPiv = SQLitePCL.raw.sqlite3_column_int64(st, 2);
                    row.LastHash = SQLitePCL.raw.sqlite3_column_blob(st, 3).ToArray();
                    row.LastResponse = SQLitePCL.raw.sqlite3_column_blob(st, 4).ToArray();
                    row.LastMs = SQLitePCL.raw.sqlite3_column_int64(st, 5);
                }

                return true;
            }
            finally
            {
                SQLitePCL.raw.sqlite3_reset(st);
            }
        }

        /// <summary>
        /// Merges the state of the journal rows with id ≤ <paramref name="upTo"/> into <c>emse_replay</c> (window union,
        /// the higher PIV's exchange) and deletes those rows, inside the caller's write transaction. Returns the kids written.
        /// </summary>
        // Entered once per thread (or rarely) and loops a long time: optimised at once instead of tier 0 + OSR.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public int ApplyAndDelete(long upTo, long nowMs, Action<string, KidReplayState>? applied = null)
        {
            Dictionary<string, KidReplayState> state = Read(upTo);
            var kids = new List<string>(state.Keys);
            kids.Sort(StringComparer.Ordinal); // neighbouring keys: fewer page visits
            foreach (string kid in kids)
            {
                KidReplayState merged = state[kid];
                if (TryGetRow(kid, out KidReplayState row))
                {
                    merged.Merge(row.Highest, row.Mask, row.LastPiv, row.LastHash, row.LastResponse, row.LastMs);
                }

                SQLitePCL.sqlite3_stmt st = _set;
                SQLitePCL.raw.sqlite3_bind_text(st, 1, kid);
                SQLitePCL.raw.sqlite3_bind_int64(st, 2, merged.Highest);
                SQLitePCL.raw.sqlite3_bind_int64(st, 3, merged.Mask);
                SQLitePCL.raw.sqlite3_bind_int64(st, 4, nowMs);
                if (merged.LastPiv >= 0)
                {
                    SQLitePCL.raw.sqlite3_bind_int64(st, 5, merged.LastPiv);
                    SQLitePCL.raw.sqlite3_bind_blob(st, 6, merged.LastHash);
                    SQLitePCL.raw.sqlite3_bind_blob(st, 7, merged.LastResponse);
                    SQLitePCL.raw.sqlite3_bind_int64(st, 8, merged.LastMs);
                }

                Step(st);
                applied?.Invoke(kid, merged);
            }

            SQLitePCL.raw.sqlite3_bind_int64(_delete, 1, upTo);
            Step(_delete);
            return kids.Count;
        }

        private void Step(SQLitePCL.sqlite3_stmt st)
        {
            int rc = SQLitePCL.raw.sqlite3_step(st);
            SQLitePCL.raw.sqlite3_reset(st);
            SQLitePCL.raw.sqlite3_clear_bindings(st); // unbound parameters are NULL
            Check(rc, SQLitePCL.raw.SQLITE_DONE);
        }

        private void Check(int rc, int expected)
        {
            if (rc != expected)
            {
                SqliteException.ThrowExceptionForRC(rc, _handle);
            }
        }

        public void Dispose()
        {
            _read.Dispose(); // sqlite3_finalize before the connection goes back to the pool
            _payload.Dispose();
            _get.Dispose();
            _set.Dispose();
            _delete.Dispose();
        }
    }
}
