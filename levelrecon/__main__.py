from levelrecon.cli.main import main

main()
