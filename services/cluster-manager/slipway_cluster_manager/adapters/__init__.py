"""Cluster-manager adapters: the real cluster drivers (minikube CLI, kubeconfig) and the host."""
