"""SRBMiner-MULTI CPU+GPU miner (HTTP JSON API on port 21550; restart over the URL given
to ``--api-miner-restart-url``)."""
