// Grid carbon intensity (g CO2e per kWh): a world-average default, a small per-country table (ISO
// 3166 alpha-3) and an override; PUE scales IT energy to facility energy before emissions are
// computed.
#pragma once

#include <string>
#include <vector>

namespace gk::energy {

struct CarbonIntensity {
    double g_per_kwh = 0;
    std::string source;            // where the number comes from
    std::string country_iso_code;  // "WORLD" for the default
};

struct CountryIntensity {
    const char* iso3;
    const char* country;
    double g_per_kwh;
};
const std::vector<CountryIntensity>& country_intensity_table();
// The world average (IEA, 2018 generation) that CodeCarbon also uses.
constexpr double kWorldGPerKwh = 475.0;

// override_g_per_kwh > 0 wins; else the country (case-insensitive ISO alpha-3; "" or "WORLD" =
// world average). Unknown codes throw InputError listing the known ones.
CarbonIntensity carbon_intensity(const std::string& country_iso_code, double override_g_per_kwh);

// Emissions in g CO2e of `energy_j` of IT energy at `pue`.
inline double emissions_g(double energy_j, double g_per_kwh, double pue) {
    return energy_j / 3.6e6 * pue * g_per_kwh;
}

}  // namespace gk::energy
