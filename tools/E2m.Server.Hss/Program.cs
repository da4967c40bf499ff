using E2m.Server.Hss;

var app = HssApp.Build(args);
app.Run();
