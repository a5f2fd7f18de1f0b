from cartsim.cli.commands import main

main()
