from latentscape.cli import main

main()
