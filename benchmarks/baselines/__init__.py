"""Baseline servers that tcpchat is measured against. Not part of tcpchat."""
