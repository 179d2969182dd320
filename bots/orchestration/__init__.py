"""Orchestration room: Prefect's environment, loading flows and deployments, `rcmbot serve`."""
