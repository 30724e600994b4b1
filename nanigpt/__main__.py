from nanigpt.cli import main

main()
