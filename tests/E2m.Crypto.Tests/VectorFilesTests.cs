using E2m.TestSupport;
using Xunit;

namespace E2m.Crypto.Tests
{
    public class VectorFilesTests
    {
        [Theory]
        [InlineData("aes-ccm-rfc3610.json")]
        [InlineData("milenage-ts35208-sets1-6.json")]
        [InlineData("e2m-kdf.json")]
        [InlineData("oscore-rfc8613-appC1-C3.json")]
        public void VectorFileIsPresentInTheRepository(string file)
        {
            using var doc = Vectors.Load(file);
            Assert.NotEqual(System.Text.Json.JsonValueKind.Undefined, doc.RootElement.ValueKind);
        }
    }
}
