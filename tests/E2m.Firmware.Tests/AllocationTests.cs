using Xunit.Abstractions;

namespace E2m.Firmware.Tests
{
    /// <summary>
    /// Allocations of the device code per upload on the host (GC.GetAllocatedBytesForCurrentThread), excluding what the
    /// fake modem and the simulated EMSE allocate. Target: 0 bytes per batch in the steady state of the
    /// SenML → OSCORE protect → CoAP CON → 2.04 → queue acknowledge path.
    /// </summary>
    public sealed class AllocationTests
    {
        private readonly ITestOutputHelper _out;
        public AllocationTests(ITestOutputHelper output) { _out = output; }

        [Fact]
        public void Protect_send_acknowledge_path_allocates_nothing_in_the_steady_state()
        {
            var rig = new Rig(seed: 31);
            rig.Config.SsnStep = 1000;                    // SSN reservation writes are a store concern (InMemoryRecordStore copies)
            E2mApplication app = rig.Cycle();
            Assert.Equal(FirmwareError.None, app.LastError);
            // same application instance (no reset): more readings, then batches on one socket
            rig.Modem.OpenUdpSocket(Rig.EmseHostA, 5683, out int socket);
            long device = 0;
            int batches = 0;
            for (int round = 0; round < 40; round++)
            {
                app.Queue.Append(0, 10_000 + round, 1_795_900_000 + round, 200 + round, out _);
                app.Queue.Append(1, 10_000 + round, 1_795_900_000 + round, 5000 + round, out _);
                long fakeBefore = rig.Modem.FakeAllocatedBytes + rig.Spy.AllocatedBytes;
                long before = GC.GetAllocatedBytesForCurrentThread();
                FirmwareError e = app.SendBatch(0, socket);
                long total = GC.GetAllocatedBytesForCurrentThread() - before;
                long fake = rig.Modem.FakeAllocatedBytes + rig.Spy.AllocatedBytes - fakeBefore;
                Assert.Equal(FirmwareError.None, e);
                if (round >= 10) { device += total - fake; batches++; }   // after warm-up
            }
            _out.WriteLine("device allocations per batch (steady state): " + (device / batches) + " B over " + batches + " batches");
            Assert.Equal(0, rig.EmseA.NonceReuse);
            Assert.Equal(0, device);
        }

        [Fact]
        public void Allocations_per_wake_cycle_are_reported()
        {
            var rig = new Rig(seed: 32);
            rig.Cycle();
            rig.Cycle();
            // one complete wake-up: construction (= boot after reset), sample, modem bring-up, key reuse, upload, sleep
            long fakeBefore = rig.Modem.FakeAllocatedBytes + rig.Spy.AllocatedBytes;
            long before = GC.GetAllocatedBytesForCurrentThread();
            E2mApplication app = rig.NewApp();
            long construct = GC.GetAllocatedBytesForCurrentThread() - before;
            app.RunCycle();
            long total = GC.GetAllocatedBytesForCurrentThread() - before - (rig.Modem.FakeAllocatedBytes + rig.Spy.AllocatedBytes - fakeBefore);
            Assert.Equal(FirmwareError.None, app.LastError);
            _out.WriteLine("per wake cycle: " + total + " B device code, of which " + construct + " B construction (boot); "
                + "the rest is the per-boot OSCORE context and its SSN store, the boot-time mount and the first-batch warm-up");
            Assert.True(total < 64 * 1024, "per-cycle allocation " + total);
        }
    }
}
