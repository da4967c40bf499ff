using System;
using System.Threading;
using System.Threading.Tasks;

namespace E2m.Server.Common
{
    /// <summary>
    /// The wait of a durable outbox's dispatcher loop (EMKS key/revocation pushes, HSS policy sync): until a time on the
    /// injected clock, or until <see cref="Wake"/> (a row was written or rescheduled), whichever comes first. Wakes that
    /// arrive while nobody waits are kept as one, so a wake between a pass and its wait is never lost.
    /// </summary>
    public sealed class OutboxWake : IDisposable
    {
        /// <summary>How far the clock may move while the timer is set before it is set again (see <see cref="WaitUntilAsync"/>).</summary>
        private static readonly TimeSpan ClockSlack = TimeSpan.FromMilliseconds(1);

        private readonly SemaphoreSlim _signal = new(0, 1);
        private readonly TimeProvider _time;

        public OutboxWake(TimeProvider time)
        {
            _time = time;
        }

        /// <summary>Ends the current or next wait now.</summary>
        public void Wake()
        {
            try
            {
                _signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // already signalled
            }
            catch (ObjectDisposedException)
            {
                // the dispatcher has stopped
            }
        }

        /// <summary>
        /// Waits until <paramref name="target"/> on the injected clock, or a <see cref="Wake"/>, or <paramref name="ct"/> (returns
        /// without throwing: the caller's loop sees the stop request itself). The timer is relative to the time read just
        /// before it is created; if the clock moved by <see cref="ClockSlack"/> or more in between (a test's fake clock
        /// advanced), it is created again, so a wake-up is never late by more than that.
        /// </summary>
        public async Task WaitUntilAsync(DateTimeOffset target, CancellationToken ct)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task signalled = _signal.WaitAsync(cts.Token);
            try
            {
                while (true)
                {
                    DateTimeOffset before = _time.GetUtcNow();
                    TimeSpan until = target - before;
                    if (until <= TimeSpan.Zero)
                    {
                        return;
                    }

                    using var timer = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                    Task delay = Task.Delay(until, _time, timer.Token);
                    if (_time.GetUtcNow() - before < ClockSlack)
                    {
                        await Task.WhenAny(delay, signalled).ConfigureAwait(false);
                        return;
                    }

                    timer.Cancel(); // the clock moved while the timer was being set: set it again from the new time
                }
            }
            finally
            {
                cts.Cancel();
                try
                {
                    await signalled.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // not signalled
                }
            }
        }

        public void Dispose() => _signal.Dispose();
    }
}
