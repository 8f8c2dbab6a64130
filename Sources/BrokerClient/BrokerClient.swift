// Blocking client for the admin and project sockets (wire protocol v2).
