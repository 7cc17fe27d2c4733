using TrgIlgpu.Cli;

// `trg`: thin commands over the library. Each command lives in Commands/<Name>Command.cs; CliApp holds the command list.
return CliApp.Run(args);
