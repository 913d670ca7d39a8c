using Decomp.Train.Vision.Cli;

return CommandLineApp.Run(args, Console.Out, Console.Error);
