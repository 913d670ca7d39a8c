using Decomp.Cli.CommandLine;

// Before anything loads libtorch: its OpenMP reads the environment once, at load.
Decomp.Devices.TuneCpuRuntime();
return CommandLineApp.Run(args, Console.Out, Console.Error);
