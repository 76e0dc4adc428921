"""Tests of the resilience core (seawall.resilience)."""
