"""The network layer both servers share: addresses, UDP and TCP listening, signals and draining, workers."""
