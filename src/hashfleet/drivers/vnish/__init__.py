"""VNish: bmminer's cgminer API on TCP 4028 plus VNish's REST API on port 80."""
