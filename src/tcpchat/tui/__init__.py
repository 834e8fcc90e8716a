"""The terminal front ends that people type into: the client's and the 1:1 operator's."""
