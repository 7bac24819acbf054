"""Internals shared by several subsystems; not public API."""
