"""Inference services (在线服务): deploy a model version as N engine instances on pool nodes."""
