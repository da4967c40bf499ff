using System;
using System.Collections.Generic;
using System.IO;
using E2m.Hal;

namespace E2m.Hal.Host
{
    /// <summary>Where a simulated power cut hits a Write or Delete of <see cref="InMemoryRecordStore"/>.</summary>
    public enum PowerCutPoint
    {
        None = 0,
        /// <summary>Power fails before the new record is durable: the old record (or absence) stays.</summary>
        BeforeDurable = 1,
        /// <summary>Power fails after the new record is durable but before the call returns.</summary>
        AfterDurable = 2,
    }

    /// <summary>Thrown by a store when an armed power cut fires (the firmware under test "dies" here).</summary>
    public sealed class PowerCutException : IOException
    {
        public PowerCutException(PowerCutPoint point)
            : base("simulated power cut " + (point == PowerCutPoint.BeforeDurable ? "before" : "after") + " the durable write")
        {
            Point = point;
        }

        public PowerCutPoint Point { get; }
    }

    /// <summary>
    /// IRecordStore in memory (it plays the flash: contents survive a simulated reboot as long as the
    /// same instance is handed to the restarted firmware). <see cref="ArmPowerCut"/> makes a future
    /// Write/Delete throw <see cref="PowerCutException"/> before or after the commit, to test that the
    /// firmware loses no reading, duplicates none and never reuses a nonce. Thread-safe.
    /// </summary>
    public sealed class InMemoryRecordStore : IRecordStore
    {
        private readonly Dictionary<int, byte[]> _records = new();
        private readonly object _gate = new();
        private PowerCutPoint _cutPoint;
        private int _cutCountdown;

        public InMemoryRecordStore(int maxRecordSize = 1024, int maxRecordId = 255)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecordSize);
            ArgumentOutOfRangeException.ThrowIfNegative(maxRecordId);
            MaxRecordSize = maxRecordSize;
            MaxRecordId = maxRecordId;
        }

        public int MaxRecordSize { get; }

        public int MaxRecordId { get; }

        /// <summary>Writes and deletes that completed or were cut (for tests choosing a cut point).</summary>
        public int MutationCount { get; private set; }

        /// <summary>The (<paramref name="afterMutations"/>+1)-th Write/Delete from now is cut at <paramref name="point"/>. One-shot.</summary>
        public void ArmPowerCut(PowerCutPoint point, int afterMutations = 0)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(afterMutations);
            lock (_gate)
            {
                _cutPoint = point;
                _cutCountdown = afterMutations;
            }
        }

        public int Read(int recordId, byte[] buffer, int offset, int count)
        {
            CheckId(recordId);
            lock (_gate)
            {
                if (!_records.TryGetValue(recordId, out byte[]? data))
                {
                    return -1;
                }

                if (data.Length > count)
                {
                    throw new ArgumentException("buffer smaller than the record", nameof(count));
                }

                Array.Copy(data, 0, buffer, offset, data.Length);
                return data.Length;
            }
        }

        public void Write(int recordId, byte[] data, int offset, int count)
        {
            CheckId(recordId);
            ArgumentNullException.ThrowIfNull(data);
            if (count < 0 || count > MaxRecordSize)
            {
                throw new ArgumentOutOfRangeException(nameof(count));
            }

            byte[] copy = new byte[count];
            Array.Copy(data, offset, copy, 0, count);
            Mutate(() => _records[recordId] = copy);
        }

        public void Delete(int recordId)
        {
            CheckId(recordId);
            Mutate(() => _records.Remove(recordId));
        }

        private void Mutate(Action commit)
        {
            lock (_gate)
            {
                MutationCount++;
                PowerCutPoint cut = PowerCutPoint.None;
                if (_cutPoint != PowerCutPoint.None)
                {
                    if (_cutCountdown == 0)
                    {
                        cut = _cutPoint;
                        _cutPoint = PowerCutPoint.None;
                    }
                    else
                    {
                        _cutCountdown--;
                    }
                }

                if (cut == PowerCutPoint.BeforeDurable)
                {
                    throw new PowerCutException(cut);
                }

                commit();
                if (cut == PowerCutPoint.AfterDurable)
                {
                    throw new PowerCutException(cut);
                }
            }
        }

        private void CheckId(int recordId)
        {
            if (recordId < 0 || recordId > MaxRecordId)
            {
                throw new ArgumentOutOfRangeException(nameof(recordId));
            }
        }
    }
}
