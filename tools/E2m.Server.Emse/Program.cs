using E2m.Server.Emse;

var app = EmseApp.Build(args);
app.Run();

/// <summary>Entry point (public for WebApplicationFactory).</summary>
public partial class Program
{
}
