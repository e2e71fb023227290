from hybridllm.cli.app import main

main()
