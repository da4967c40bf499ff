// EMKS host: the composition lives in EmksApp so `e2m stack`, `e2m demo` and the tests host the same thing in-process.
using E2m.Server.Emks;

var app = EmksApp.Build(args);
app.Run();
