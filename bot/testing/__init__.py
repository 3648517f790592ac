"""Test doubles that stand in for outside services over real HTTP on 127.0.0.1."""
