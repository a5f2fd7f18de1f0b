from cartsim.cli import main

main()
