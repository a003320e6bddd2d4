from callshield.cli import main

main()
