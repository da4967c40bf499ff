using System;
using System.IO;
using System.Text.Json;

namespace E2m.TestSupport
{
    /// <summary>Loads the public vector files copied into tests/vectors (copied next to the test assembly).</summary>
    public static class Vectors
    {
        public static JsonDocument Load(string fileName)
        {
            string path = Path.Combine(AppContext.BaseDirectory, "vectors", fileName);
            return JsonDocument.Parse(File.ReadAllText(path));
        }
    }
}
