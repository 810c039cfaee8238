console.log("sim-studio v1");
