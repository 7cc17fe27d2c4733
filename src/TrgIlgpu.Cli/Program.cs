// `trg`: thin commands over the library. Each command lives in Commands/<Name>Command.cs; CliApp wires them up.
return TrgIlgpu.Cli.CliApp.Run(args);
