// Entry point: all work is in the subcommands; Main maps errors to the documented exit codes.
Main.run()
