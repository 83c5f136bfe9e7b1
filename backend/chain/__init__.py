"""Bitcoin network data: hashrate, difficulty, tip and blocks from several providers; hashprice."""
