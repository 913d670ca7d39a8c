using Decomp.Train.Vision;
using Decomp.Train.Vision.Cli;

// Before anything loads libtorch: its OpenMP reads the environment once, at load.
NativeTuning.Apply();
return CommandLineApp.Run(args, Console.Out, Console.Error);
