"""Model zoo: our torch definitions, published weights, export to ONNX."""
