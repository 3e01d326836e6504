"""HTML views of tasks and pages, and the live task view (`watch`).

Views read the client's task objects and never make API calls of their own,
except `watch`, which polls through the task's own client.
"""
