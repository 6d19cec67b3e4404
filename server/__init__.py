"""The kgreason model server: configuration, gRPC services, batching, retrieval, model, training."""
