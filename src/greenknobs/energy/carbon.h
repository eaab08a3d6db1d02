// Grid carbon intensity (g CO2e per kWh): a world-average default, a per-country table covering
// every country in Our World in Data's energy dataset (ISO 3166 alpha-3; carbon_table.cpp) and an
// override; PUE scales IT energy to facility energy before emissions are computed.
#pragma once

#include <string>
#include <vector>

namespace gk::energy {

struct CarbonIntensity {
    double g_per_kwh = 0;
    std::string source;            // where the number comes from
    std::string country_iso_code;  // "WORLD" for the default
    std::string country_name;      // "World" for the default, "" for an override
    int year = 0;                  // the data year; 0 for an override
    std::string warning;           // non-empty: e.g. an unknown code fell back to the world
};

struct CountryIntensity {
    const char* iso3;
    const char* country;
    double g_per_kwh;
    int year;
};
const std::vector<CountryIntensity>& country_intensity_table();
// The world's carbon intensity of electricity generation in 2023: 483.2 g CO2e/kWh (Our World in
// Data, carbon_intensity_elec for "World": Ember and Energy Institute), the same source and
// definition as the country table.
constexpr double kWorldGPerKwh = 483.2;
constexpr int kWorldYear = 2023;

// override_g_per_kwh > 0 wins; else the country (case-insensitive ISO alpha-3; "" or "WORLD" =
// world average). An unknown code falls back to the world average with a warning.
CarbonIntensity carbon_intensity(const std::string& country_iso_code, double override_g_per_kwh);

// Emissions in g CO2e of `energy_j` of IT energy at `pue`.
inline double emissions_g(double energy_j, double g_per_kwh, double pue) {
    return energy_j / 3.6e6 * pue * g_per_kwh;
}

}  // namespace gk::energy
