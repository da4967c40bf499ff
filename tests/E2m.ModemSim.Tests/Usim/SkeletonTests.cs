using E2m.ModemSim.Usim;
using Xunit;

namespace E2m.ModemSim.Tests.Usim
{
    public class SkeletonTests
    {
        [Fact]
        public void SeamExists() => Assert.True(typeof(ISimCard).IsInterface);
    }
}
