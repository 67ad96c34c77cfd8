"""HTTP API: RPC methods, resource routes, WebSocket."""
