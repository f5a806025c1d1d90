"""Test instruments shipped with the package (a synthetic captioned world for the test CLIPs)."""
