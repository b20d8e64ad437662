from zorgid.cli.main import main

main()
