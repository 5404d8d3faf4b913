from linesync_cli.app import main

main()
