from linesync_cli.entry import main

main()
